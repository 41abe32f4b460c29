//! Values bound to statements and read from rows: the four types both backends share.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A SQL value. Integers are `i64` (`BIGINT`); unsigned quantities above `i64::MAX` do not fit
/// and are refused by the `TryFrom` conversions the callers use.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// Redacted: values may be card data or ciphertext; only the type shows.
impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Value::Null => "Null",
            Value::Int(_) => "Int(..)",
            Value::Text(_) => "Text(..)",
            Value::Blob(_) => "Blob(..)",
        })
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<u16> for Value {
    fn from(v: u16) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<u8> for Value {
    fn from(v: u8) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Blob(v.to_vec())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl Value {
    /// An unsigned quantity; `None` (and an error at the caller) when it exceeds `i64::MAX`.
    pub fn from_u64(v: u64) -> Result<Value> {
        i64::try_from(v).map(Value::Int).map_err(|_| Error::new("bind", "unsigned value above i64::MAX"))
    }

    /// An optional unsigned quantity: `None` is NULL; an error above `i64::MAX`.
    pub fn from_opt_u64(v: Option<u64>) -> Result<Value> {
        v.map_or(Ok(Value::Null), Value::from_u64)
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    values: Vec<Value>,
}

impl Row {
    /// A row of `values`, in their columns' order: what a caller keeps ([`crate::Tx::update_kept`]).
    pub fn new(values: Vec<Value>) -> Row {
        Row { values }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn value(&self, index: usize) -> Result<&Value> {
        self.values.get(index).ok_or_else(|| Error::column(index, "a column (index out of range)"))
    }

    pub fn i64(&self, index: usize) -> Result<i64> {
        self.opt_i64(index)?.ok_or_else(|| Error::column(index, "an integer, found NULL"))
    }

    /// A non-negative integer as `u64`.
    pub fn u64(&self, index: usize) -> Result<u64> {
        u64::try_from(self.i64(index)?).map_err(|_| Error::column(index, "a non-negative integer"))
    }

    pub fn text(&self, index: usize) -> Result<String> {
        self.opt_text(index)?.ok_or_else(|| Error::column(index, "text, found NULL"))
    }

    pub fn blob(&self, index: usize) -> Result<Vec<u8>> {
        self.opt_blob(index)?.ok_or_else(|| Error::column(index, "bytes, found NULL"))
    }

    pub fn opt_i64(&self, index: usize) -> Result<Option<i64>> {
        match self.value(index)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            _ => Err(Error::column(index, "an integer")),
        }
    }

    pub fn opt_text(&self, index: usize) -> Result<Option<String>> {
        match self.value(index)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            _ => Err(Error::column(index, "text")),
        }
    }

    /// A text column read into a checked type (a `domain` type such as `Stan` or
    /// `ResponseCode`): NULL is `None`; text the type refuses is an error naming `column` and
    /// the type's reason. Only for types whose errors never carry the value (a card number may
    /// be one), as every `domain` type's errors do not.
    pub fn opt_parsed<T>(&self, index: usize, column: &'static str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.value(index)? {
            Value::Null => Ok(None),
            Value::Text(v) => {
                v.parse().map(Some).map_err(|e| Error::new("read column", format!("column {column}: {e}")))
            }
            _ => Err(Error::column(index, "text")),
        }
    }

    /// [`Row::opt_parsed`] where NULL is an error.
    pub fn parsed<T>(&self, index: usize, column: &'static str) -> Result<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.opt_parsed(index, column)?
            .ok_or_else(|| Error::new("read column", format!("column {column}: expected text, found NULL")))
    }

    pub fn opt_blob(&self, index: usize) -> Result<Option<Vec<u8>>> {
        match self.value(index)? {
            Value::Null => Ok(None),
            Value::Blob(v) => Ok(Some(v.clone())),
            _ => Err(Error::column(index, "bytes")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_columns_name_the_column_and_not_the_value() {
        let row = Row::new(vec![Value::Text("42".into()), Value::Null, Value::Text("x9".into()), Value::Int(1)]);
        assert_eq!(row.parsed::<u32>(0, "stan").unwrap(), 42);
        assert_eq!(row.opt_parsed::<u32>(1, "stan").unwrap(), None);
        let bad = row.parsed::<u32>(2, "amount_minor").unwrap_err();
        assert!(bad.message.starts_with("column amount_minor: "), "{}", bad.message);
        assert!(!bad.message.contains("x9"), "{}", bad.message);
        assert!(row.parsed::<u32>(1, "stan").unwrap_err().message.contains("column stan"));
        assert!(row.opt_parsed::<u32>(3, "stan").is_err(), "an integer is not text");
    }
}
