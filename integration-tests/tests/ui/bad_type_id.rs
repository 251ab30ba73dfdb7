// A type id clients and servers name the type by: non-empty, printable, no
// whitespace, given once. One error per mistake; the proxies still exist, so code
// using them reports nothing more.
use manager_client::shared;

#[derive(Default)]
pub struct Empty;

#[shared(id = "")]
impl Empty {
    pub fn get(&self) -> u32 {
        0
    }
}

#[derive(Default)]
pub struct Spaced;

#[shared(id = "my counter")]
impl Spaced {
    pub fn get(&self) -> u32 {
        0
    }
}

#[derive(Default)]
pub struct Control;

#[shared(id = "bell\u{7}")]
impl Control {
    pub fn get(&self) -> u32 {
        0
    }
}

#[derive(Default)]
pub struct Twice;

#[shared(id = "app::Twice", type_id = "app::Twice2")]
impl Twice {
    pub fn get(&self) -> u32 {
        0
    }
}

async fn call(spaced: &SpacedProxy, twice: &TwiceProxy) -> Result<u32, manager_client::Error> {
    Ok(spaced.get().await? + twice.get().await?)
}

fn main() {
    let _ = call;
}
