use manager_client::job;

#[job]
async fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
