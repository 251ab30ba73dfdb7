use manager_client::shared;

pub struct Account {
    balance: i64,
}

#[shared]
impl Account {
    #[shared(constructor)]
    pub fn open(balance: i64) -> Option<Self> {
        (balance >= 0).then_some(Account { balance })
    }

    pub fn balance(&self) -> i64 {
        self.balance
    }
}

fn main() {}
