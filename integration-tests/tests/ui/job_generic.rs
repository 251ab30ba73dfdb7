use manager_client::job;

#[job]
fn first<T: Clone>(v: Vec<T>) -> T {
    v[0].clone()
}

fn main() {}
