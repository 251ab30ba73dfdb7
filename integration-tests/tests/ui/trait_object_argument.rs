use manager_client::shared;

#[derive(Default)]
pub struct Runner;

#[shared]
impl Runner {
    pub fn run(&self, job: Box<dyn Fn() -> u32 + Send>) -> u32 {
        job()
    }
}

fn main() {}
