use manager_client::job;

pub struct Doubler;

impl Doubler {
    #[job]
    fn double(&self, x: u64) -> u64 {
        x * 2
    }
}

fn main() {}
