use manager_client::shared;

#[shared(id = "ui.Counter")]
pub trait Counter {
    fn get(&self) -> u64;
    fn zero() -> u64;
}

fn main() {}
