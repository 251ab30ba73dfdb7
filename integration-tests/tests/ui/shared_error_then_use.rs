// After a mistake in a #[shared] block, the one error is that mistake: registering the
// type and using its proxies add nothing (the macro emits stand-ins).
use manager_client::shared;

#[derive(Default)]
pub struct Counter {
    n: u64,
}

#[shared]
impl Counter {
    pub fn incr(&mut self, by: &u64) -> u64 {
        self.n += by;
        self.n
    }

    pub fn get(&self) -> u64 {
        self.n
    }
}

async fn serve_and_call(client: &manager_client::Client) -> Result<u64, manager_client::Error> {
    let _builder = manager_server::Server::builder().register::<Counter>();
    let counter = CounterProxy::create(client).await?;
    let _: u64 = counter.incr(&1).await?;
    counter.get().await
}

fn call_blocking(client: &manager_client::blocking::Client) -> Result<u64, manager_client::Error> {
    CounterBlockingProxy::create(client)?.get()
}

fn main() {
    let _ = (serve_and_call, call_blocking, Counter::EXPOSED);
}
