// A bad option is one error; the proxies still exist (with the default visibility), so
// code using them reports nothing more.
use manager_client::shared;

#[derive(Default)]
pub struct Counter;

#[shared(vis = "public")]
impl Counter {
    pub fn get(&self) -> u32 {
        0
    }
}

async fn call(counter: &CounterProxy) -> Result<u32, manager_client::Error> {
    counter.get().await
}

fn main() {
    let _ = call;
}
