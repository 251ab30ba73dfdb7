use manager_client::{Shared, shared};

#[derive(Default)]
pub struct Plain;

#[derive(Default)]
pub struct Maker;

#[shared]
impl Maker {
    pub fn make(&self) -> Shared<Plain> {
        Shared::new(Plain)
    }
}

fn main() {}
