use manager_server::shared;

#[shared(id = "ui.Counter")]
pub trait Counter {
    fn get(&self) -> u64;
}

#[derive(Default)]
pub struct Mine;

#[shared]
impl Counter for Mine {
    fn get(&self) -> i64 {
        0
    }
}

fn main() {}
