use manager_client::shared;

#[derive(Default)]
pub struct Thing;

#[shared]
impl Clone for Thing {
    fn clone(&self) -> Self {
        Thing
    }
}

fn main() {}
