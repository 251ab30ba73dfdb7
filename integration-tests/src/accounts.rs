//! Types for the tests of `#[shared]`'s richer signatures: a fallible constructor,
//! methods returning `Shared<T>` (new objects hosted on the server), proxies as
//! arguments and results.

use manager_client::{DictProxy, Shared, shared};
use serde::{Deserialize, Serialize};

/// A bank account, which cannot be opened with a negative balance.
#[derive(Debug, Default)]
pub struct Account {
    balance: i64,
    /// An account this one was told about (a proxy kept on the server).
    partner: Option<AccountProxy>,
}

/// What [`Account`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountError {
    /// A negative opening balance.
    Negative(i64),
    /// Not enough money.
    Insufficient { have: i64, wanted: i64 },
    /// A call through a proxy failed.
    Remote(String),
}

impl std::fmt::Display for AccountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountError::Negative(n) => write!(f, "cannot open an account with {n}"),
            AccountError::Insufficient { have, wanted } => write!(f, "cannot take {wanted} from {have}"),
            AccountError::Remote(e) => write!(f, "{e}"),
        }
    }
}

/// An account opened with a partner: a constructor taking a proxy.
#[derive(Debug)]
pub struct Joint {
    partner: AccountProxy,
}

#[shared]
impl Joint {
    /// Opens a joint account next to `partner`.
    pub fn new(partner: AccountProxy) -> Self {
        Joint { partner }
    }

    /// The partner's balance.
    pub async fn partner_balance(&self) -> Result<i64, String> {
        self.partner.balance().await.map_err(|e| e.to_string())
    }
}

/// Never registered on the tests' servers: returning one is an error.
#[derive(Debug, Default)]
pub struct Receipt {
    amount: i64,
}

#[shared]
impl Receipt {
    /// The amount.
    pub fn amount(&self) -> i64 {
        self.amount
    }
}

#[shared]
impl Account {
    /// Opens an account; a negative balance is refused, and no object is created.
    pub fn new(balance: i64) -> Result<Self, AccountError> {
        if balance < 0 {
            return Err(AccountError::Negative(balance));
        }
        Ok(Account { balance, partner: None })
    }

    /// The balance.
    pub fn balance(&self) -> i64 {
        self.balance
    }

    /// Moves `amount` into a new account, hosted on the server.
    pub fn split(&mut self, amount: i64) -> Result<Shared<Account>, AccountError> {
        if amount > self.balance || amount < 0 {
            return Err(AccountError::Insufficient { have: self.balance, wanted: amount });
        }
        self.balance -= amount;
        Ok(Shared::new(Account { balance: amount, partner: None }))
    }

    /// A new, empty account.
    pub fn sibling(&self) -> Shared<Self> {
        Shared::new(Account::default())
    }

    /// Empties the account; returns what it held.
    pub fn drain(&mut self) -> i64 {
        std::mem::take(&mut self.balance)
    }

    /// Moves everything `other` holds into this account (on the server, `other` calls
    /// its object in place); returns the new balance.
    pub async fn absorb(&mut self, other: AccountProxy) -> Result<i64, AccountError> {
        let taken = other.drain().await.map_err(|e| AccountError::Remote(e.to_string()))?;
        self.balance += taken;
        Ok(self.balance)
    }

    /// Deposits every amount in `ledger` (a built-in dict, read in place on the server)
    /// and records the new balance in it under `"total"`; returns the new balance.
    pub async fn deposit_all(&mut self, ledger: DictProxy<String, i64>) -> Result<i64, AccountError> {
        // A snapshot: a handle held on the server calls in place and opens no streams.
        let pairs = ledger.snapshot().await.map_err(|e| AccountError::Remote(e.to_string()))?;
        self.balance += pairs.iter().map(|(_, amount)| amount).sum::<i64>();
        ledger.insert("total".to_owned(), self.balance).await.map_err(|e| AccountError::Remote(e.to_string()))?;
        Ok(self.balance)
    }

    /// Keeps `partner` (a proxy held by this object on the server).
    pub fn set_partner(&mut self, partner: AccountProxy) {
        self.partner = Some(partner);
    }

    /// The partner kept by [`Account::set_partner`]: an existing object, returned.
    pub fn partner(&self) -> Option<AccountProxy> {
        self.partner.clone()
    }

    /// The partner's balance, asked through the proxy this object keeps.
    pub async fn partner_balance(&self) -> Result<i64, String> {
        let partner = self.partner.clone().ok_or("no partner")?;
        partner.balance().await.map_err(|e| e.to_string())
    }

    /// Forgets the partner.
    pub fn clear_partner(&mut self) {
        self.partner = None;
    }

    /// A receipt, whose type the tests never register.
    pub fn receipt(&self) -> Shared<Receipt> {
        Shared::new(Receipt { amount: self.balance })
    }
}
