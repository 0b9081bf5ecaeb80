//! blvm-module: module protocol types, codec and async client SDK (in progress).
