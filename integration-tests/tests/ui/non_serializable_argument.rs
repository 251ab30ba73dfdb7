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
}

fn main() {}
