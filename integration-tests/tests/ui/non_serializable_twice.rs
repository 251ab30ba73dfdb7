// One type that cannot cross the wire, used three times, and the proxies and the
// dispatcher used too: one error, at its first use.
use manager_client::shared;

pub struct NotSerde {
    pub x: u32,
}

#[derive(Default)]
pub struct Sink;

#[shared]
impl Sink {
    pub fn take(&mut self, value: NotSerde) -> u32 {
        value.x
    }

    pub fn swap(&mut self, value: NotSerde) -> NotSerde {
        value
    }
}

async fn call(sink: &SinkProxy) -> Result<u32, manager_client::Error> {
    let back = sink.swap(NotSerde { x: 1 }).await?;
    sink.take(back).await
}

fn call_blocking(sink: &SinkBlockingProxy) -> Result<NotSerde, manager_client::Error> {
    sink.swap(NotSerde { x: 2 })
}

fn main() {
    let _ = manager_server::Server::builder().register::<Sink>();
    let _ = (call, call_blocking);
}
