use manager_server::shared;

#[shared(id = "ui.Counter")]
pub trait Counter {
    fn get(&self) -> u64 {
        0
    }
    fn incr(&self, by: u64) -> u64;
}

// An implementation and a client of the trait with the mistake report nothing more.
#[derive(Default)]
pub struct Mine;

#[shared]
impl Counter for Mine {
    fn incr(&self, by: u64) -> u64 {
        by
    }
}

async fn client(client: &manager_client::Client) -> Result<u64, manager_client::Error> {
    let counter = CounterProxy::create(client).await?;
    counter.incr(1).await
}

fn main() {
    let _ = manager_server::Server::builder().register::<Mine>();
    let _ = client;
}
