use manager_server::shared;

#[shared(id = "ui.Counter")]
pub trait Counter {
    fn get(&self) -> u64;
}

#[derive(Default)]
pub struct Mine;

#[shared(id = "ui.Mine")]
impl Counter for Mine {
    fn get(&self) -> u64 {
        0
    }
}

fn main() {
    let _ = manager_server::Server::builder().register::<Mine>();
}
