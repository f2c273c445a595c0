//! serde `deserialize_with` helpers for nested request objects: they accept
//! only JSON objects where a struct is expected. (serde's derive would also
//! read a struct from an array of its fields in order, so
//! `"initial_config": [null, null]` would pass as an empty config.)

use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

fn from_object<T: DeserializeOwned, E: Error>(object: Map<String, Value>) -> Result<T, E> {
    T::deserialize(Value::Object(object)).map_err(E::custom)
}

/// An optional nested object (`null` or absent → `None`; pair with
/// `#[serde(default)]`).
pub fn option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Option::<Map<String, Value>>::deserialize(deserializer)?
        .map(from_object)
        .transpose()
}

/// An optional array of objects (`null` or absent → `None`; pair with
/// `#[serde(default)]`).
pub fn option_vec<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Option::<Vec<Map<String, Value>>>::deserialize(deserializer)?
        .map(|items| items.into_iter().map(from_object).collect())
        .transpose()
}
