use manager_client::shared;

#[derive(Default)]
pub struct Ticks;

#[shared]
impl Ticks {
    pub async fn ticks(&self) -> impl Iterator<Item = u64> {
        0..3
    }
}

fn main() {}
