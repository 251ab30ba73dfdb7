use manager_client::job;

#[job]
fn count(text: &str) -> usize {
    text.len()
}

fn main() {}
