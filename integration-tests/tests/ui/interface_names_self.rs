use manager_client::shared;

#[shared(id = "ui.Counter")]
pub trait Counter {
    fn merge(&mut self, other: Self) -> u64
    where
        Self: Sized;
}

fn main() {}
