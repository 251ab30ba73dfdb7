use manager_client::shared;

#[shared(id = "ui.Store")]
pub trait Store<T> {
    fn len(&self) -> u64;
}

fn main() {}
