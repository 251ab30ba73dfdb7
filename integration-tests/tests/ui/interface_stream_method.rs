use manager_client::shared;

#[shared]
pub trait Numbers {
    fn squares(&self, n: u64) -> impl Iterator<Item = u64> + Send + 'static;
}

fn main() {}
