use manager_client::shared;

#[derive(Default)]
pub struct Store;

#[shared]
impl Store {
    pub fn put<T: Clone>(&mut self, value: T) -> T {
        value
    }
}

fn main() {}
