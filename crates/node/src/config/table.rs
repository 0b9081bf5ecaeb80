//! The machinery behind the declarative option table ([`super::options`]): one macro that turns
//! the table into [`super::OPTIONS`] (parsing, `-help`, the configuration files, the environment
//! and docs/configuration.md all read it) and into [`super::NodeConfig`], whose typed fields the
//! table binds to options, so a misspelt option field does not compile.

use super::ConfigError;

/// A typed field an integer option is stored in; the value was range-checked against the table,
/// so the conversion cannot truncate.
pub trait IntField {
    /// The field's value for a checked `n`.
    fn from_checked(n: u64) -> Self;
}

macro_rules! int_field {
    ($($t:ty),*) => {
        $(
            impl IntField for $t {
                fn from_checked(n: u64) -> Self {
                    n as $t
                }
            }
            impl IntField for Option<$t> {
                fn from_checked(n: u64) -> Self {
                    Some(n as $t)
                }
            }
        )*
    };
}
int_field!(u16, u32, u64, usize, i64);

/// A typed field's value as an integer (switches as 0 or 1; `None` when unset), for the test
/// that checks every typed default against the table.
#[cfg(test)]
pub trait FieldValue {
    /// The value, if set.
    fn value(&self) -> Option<u64>;
}

#[cfg(test)]
macro_rules! field_value {
    ($($t:ty),*) => {
        $(
            impl FieldValue for $t {
                fn value(&self) -> Option<u64> {
                    Some(*self as u64)
                }
            }
            impl FieldValue for Option<$t> {
                fn value(&self) -> Option<u64> {
                    self.map(|v| v as u64)
                }
            }
        )*
    };
}
#[cfg(test)]
field_value!(u16, u32, u64, usize, i64, bool);

/// A typed field a switch is stored in (`bool`, or `Option<bool>` when unset means "depends").
pub trait FlagField {
    /// The field's value for a switch read as `on`.
    fn from_flag(on: bool) -> Self;
}

impl FlagField for bool {
    fn from_flag(on: bool) -> Self {
        on
    }
}

impl FlagField for Option<bool> {
    fn from_flag(on: bool) -> Self {
        Some(on)
    }
}

/// Parses an integer option within `lo..=hi`: `expected` names the allowed values, `below` what
/// a too-small value lacks (often the same words).
pub fn parse_int(name: &str, v: &str, lo: u64, hi: u64, expected: &'static str, below: &'static str) -> Result<u64, ConfigError> {
    let bad = |expected| ConfigError::BadValue {
        key: name.to_string(),
        value: v.to_string(),
        expected,
    };
    let n = v.parse::<u64>().ok().filter(|n| *n <= hi).ok_or_else(|| bad(expected))?;
    if n < lo {
        return Err(bad(below));
    }
    Ok(n)
}

/// The first argument, or the second when there is one (a row's "too small" wording).
macro_rules! second_or_first {
    ($a:literal) => {
        $a
    };
    ($a:literal, $b:literal) => {
        $b
    };
}

/// `Some(range)` for a row with a range, `None` otherwise.
macro_rules! range_of {
    () => {
        None
    };
    ($lo:expr, $hi:expr) => {
        Some(($lo as u64, $hi as u64))
    };
}

/// Stores a bound option's value: integers are range-checked, switches read with `flag`.
macro_rules! store {
    ($slot:expr, $name:literal, $v:expr, $flag:expr) => {
        $slot = $crate::config::table::FlagField::from_flag($flag()?)
    };
    ($slot:expr, $name:literal, $v:expr, $flag:expr, $lo:expr, $hi:expr, $exp:literal $(, $low:literal)?) => {
        $slot = $crate::config::table::IntField::from_checked($crate::config::table::parse_int(
            $name,
            $v,
            $lo as u64,
            $hi as u64,
            $exp,
            second_or_first!($exp $(, $low)?),
        )?)
    };
}

/// Declares the option table and the configuration struct. `fields` are the struct's fields that
/// no single option binds (the network, lists, values several options share); each `options`
/// row is `Section "name" Kind Networks "default shown" "help"`, optionally `=> field: Type = default`
/// binding it to a typed field, with `[lo, hi], "expected"[, "too small"]` for integers.
macro_rules! options_table {
    (
        fields { $( $(#[$fm:meta])* $xf:ident : $xt:ty = $xd:expr, )* }
        options {
            $( $sec:ident $name:literal $kind:ident $nets:ident $def:literal $help:literal
               $( => $field:ident : $ty:ty = $init:expr $(, [$lo:expr, $hi:expr], $exp:literal $(, $low:literal)? )? )? ; )*
        }
    ) => {
        /// Every option the node accepts, in `-help` order.
        pub const OPTIONS: &[OptSpec] = &[
            $( OptSpec {
                name: $name,
                kind: OptKind::$kind,
                default: $def,
                help: $help,
                section: Section::$sec,
                networks: Networks::$nets,
                range: range_of!($( $( $lo, $hi )? )?),
            }, )*
        ];

        /// Parsed node configuration: the typed value of every option bound in [`OPTIONS`] and
        /// the fields several options share.
        #[derive(Debug, Clone)]
        pub struct NodeConfig {
            $( $(#[$fm])* pub $xf: $xt, )*
            $( $( #[doc = $help] pub $field: $ty, )? )*
        }

        impl Default for NodeConfig {
            fn default() -> Self {
                NodeConfig {
                    $( $xf: $xd, )*
                    $( $( $field: $init, )? )*
                }
            }
        }

        impl NodeConfig {
            /// Stores option `name` when the table binds it to a field; false for the others.
            /// `flag` reads the value as a switch (negation applied).
            pub(super) fn set_bound(
                &mut self,
                name: &str,
                v: &str,
                flag: &dyn Fn() -> Result<bool, ConfigError>,
            ) -> Result<bool, ConfigError> {
                match name {
                    $( $( $name => store!(self.$field, $name, v, flag $(, $lo, $hi, $exp $(, $low)?)?), )? )*
                    _ => return Ok(false),
                }
                Ok(true)
            }

            /// The value of the field the table binds to option `name` (None: no such field;
            /// `Some(None)`: unset, its default depends on other options). Test-only.
            #[cfg(test)]
            pub(super) fn bound_value(&self, name: &str) -> Option<Option<u64>> {
                match name {
                    $( $( $name => Some($crate::config::table::FieldValue::value(&self.$field)), )? )*
                    _ => None,
                }
            }
        }
    };
}
