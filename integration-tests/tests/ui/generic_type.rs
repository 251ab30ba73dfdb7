use manager_client::shared;

#[derive(Default)]
pub struct Boxed<T> {
    value: T,
}

#[shared]
impl<T: Send + Sync + 'static> Boxed<T> {
    pub fn peek(&self) -> u32 {
        0
    }
}

fn main() {}
