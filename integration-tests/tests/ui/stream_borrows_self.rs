use manager_client::shared;

#[derive(Default)]
pub struct Words {
    words: Vec<String>,
}

#[shared]
impl Words {
    pub fn each(&self) -> impl Iterator<Item = String> {
        self.words.iter().cloned()
    }
}

fn main() {}
