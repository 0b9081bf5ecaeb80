#!/usr/bin/env python3
"""Runs a module script with the repository's Python SDK (sdk/python/src) importable.

The node's tests start Python modules as `python3 sdk_run.py <script>`, so they use the SDK from
this checkout without `pip install` (the one place that knows where the SDK lives).
"""
import os
import runpy
import sys

SDK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../sdk/python/src")

if __name__ == "__main__":
    sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
    sys.path.insert(0, os.path.normpath(SDK))
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
