//! A user type shared with `#[shared]`: an `Employee` whose salary ten processes raise
//! under a shared lock. The salary ends exactly 1,000 higher.
//!
//! ```text
//! cargo run --example employee
//! ```
//!
//! Python's version registers a class with `BaseManager.register('Employee',
//! Employee)`; here `#[shared]` on the impl block generates `EmployeeProxy`, and the
//! server hosts one employee under a name. A `Company` hires more: `hire` returns a
//! `Shared<Employee>`, a new employee hosted on the server, and the caller gets an
//! `EmployeeBlockingProxy` to it.

use manager_client::blocking::{Client, LockProxy};
use manager_client::{Shared, shared};
use manager_server::{Builtin, Server};
use std::process::Command;

/// An employee record, living in the manager.
#[derive(Debug)]
pub struct Employee {
    name: String,
    salary: u64,
}

#[shared]
impl Employee {
    /// A new employee.
    pub fn new(name: String, salary: u64) -> Self {
        Employee { name, salary }
    }

    /// Raises the salary by `amount`; returns the new salary.
    pub fn increase(&mut self, amount: u64) -> u64 {
        self.salary += amount;
        self.salary
    }

    /// The salary.
    pub fn salary(&self) -> u64 {
        self.salary
    }

    /// The name.
    pub fn name(&self) -> String {
        self.name.clone()
    }
}

/// An employer: a factory of shared employees.
#[derive(Debug, Default)]
pub struct Company {
    hired: u64,
}

#[shared]
impl Company {
    /// Hires `name` at the starting salary: a new employee, hosted on the server.
    pub fn hire(&mut self, name: String) -> Shared<Employee> {
        self.hired += 1;
        Shared::new(Employee::new(name, 40_000))
    }

    /// How many were hired.
    pub fn hired(&self) -> u64 {
        self.hired
    }
}

const WORKERS: u64 = 10;
const RAISE: u64 = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("worker") => {
            let client = Client::from_env()?;
            let employee: EmployeeBlockingProxy = client.named("alice")?;
            let payroll: LockProxy = client.named("payroll")?;
            let _guard = payroll.lock()?;
            let before = employee.salary()?;
            let after = employee.increase(RAISE)?;
            println!("worker {}: {before} -> {after}", std::process::id());
            Ok(())
        }
        _ => manager(),
    }
}

fn manager() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(
        Server::builder()
            .register::<Employee>()
            .register::<Company>()
            .named("alice", Employee::new("Alice".into(), 50_000))
            .named_builtin("payroll", Builtin::Lock)
            .start(),
    )?;
    let client = Client::connect(server.address(), server.authkey())?;
    let alice: EmployeeBlockingProxy = client.named("alice")?;
    let start = alice.salary()?;
    println!("{}: salary {start}", alice.name()?);
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("worker");
        client.configure_child(&mut cmd);
        workers.push(cmd.spawn()?);
    }
    for mut w in workers {
        if !w.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    let end = alice.salary()?;
    println!("{}: salary {end} ({} higher)", alice.name()?, end - start);
    let company = CompanyBlockingProxy::create(&client)?;
    let bob = company.hire("Bob".into())?;
    bob.increase(500)?;
    println!("hired {} ({} so far): salary {}", bob.name()?, company.hired()?, bob.salary()?);
    rt.block_on(server.shutdown());
    if end != start + WORKERS * RAISE {
        return Err("raises were lost".into());
    }
    Ok(())
}
