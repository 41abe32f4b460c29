//! (being written)
use serde_json::Value;

pub fn check(vector: &Value) {
    panic!("no checker yet for {}", vector["id"]);
}

pub fn check_kcv(vector: &Value) {
    panic!("no checker yet for {}", vector["id"]);
}

pub fn check_cup(vector: &Value) {
    panic!("no checker yet for {}", vector["id"]);
}
