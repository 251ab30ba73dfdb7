use manager_client::shared;

#[derive(Default)]
pub struct Thermometer {
    degrees: f64,
}

#[shared(watch)]
impl Thermometer {
    pub fn set(&mut self, degrees: f64) {
        self.degrees = degrees;
    }

    pub fn watch(&self) -> f64 {
        self.degrees
    }
}

#[shared(watch = "yes")]
impl Other {}

#[derive(Default)]
pub struct Other;

fn main() {}
