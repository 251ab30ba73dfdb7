use manager_server::shared;

// No constructor: clients create with `Default`, so each implementation needs it.
#[shared(id = "ui.Counter")]
pub trait Counter {
    fn get(&self) -> u64;
}

pub struct Mine;

#[shared]
impl Counter for Mine {
    fn get(&self) -> u64 {
        0
    }
}

fn main() {}
