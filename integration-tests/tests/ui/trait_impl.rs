use manager_client::shared;

#[derive(Default)]
pub struct Thing;

#[shared] // `Clone` is no #[shared] trait: one error, at its name
impl Clone for Thing {
    fn clone(&self) -> Self {
        Thing
    }
}

fn main() {}
