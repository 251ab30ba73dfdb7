//! A user type shared with `#[shared]`: an `Employee` whose salary ten processes raise
//! under a shared lock. The salary ends exactly 1,000 higher.
//!
//! ```text
//! cargo run --example employee
//! ```
//!
//! Python's version registers the classes with a manager; here `#[shared]` on an impl
//! block generates `EmployeeBlockingProxy`, and the server hosts the types registered
//! with it. `Company::hire` returns a `Shared<Employee>` (Python's
//! `method_to_typeid`): a new employee hosted on the server, and the caller gets a
//! proxy to it. Python's version:
//!
//! ```python
//! import os
//! from multiprocessing import Process
//! from multiprocessing.managers import SyncManager
//!
//! class Employee:
//!     def __init__(self, name, salary):
//!         self.name, self.salary = name, salary
//!     def increase(self, amount):
//!         self.salary += amount
//!         return self.salary
//!     def get_salary(self):
//!         return self.salary
//!     def get_name(self):
//!         return self.name
//!
//! class Company:
//!     def __init__(self):
//!         self.hired = 0
//!     def hire(self, name):
//!         self.hired += 1
//!         return Employee(name, 40_000)
//!     def get_hired(self):
//!         return self.hired
//!
//! class MyManager(SyncManager):
//!     pass
//!
//! MyManager.register('Employee', Employee)
//! MyManager.register('Company', Company, method_to_typeid={'hire': 'Employee'})
//!
//! def worker(employee, payroll):
//!     with payroll:
//!         before, after = employee.get_salary(), employee.increase(100)
//!     print(f'worker {os.getpid()}: {before} -> {after}')
//!
//! if __name__ == '__main__':
//!     with MyManager() as m:
//!         alice, payroll = m.Employee('Alice', 50_000), m.Lock()
//!         start = alice.get_salary()
//!         print(f'{alice.get_name()}: salary {start}')
//!         ps = [Process(target=worker, args=(alice, payroll)) for _ in range(10)]
//!         for p in ps:
//!             p.start()
//!         for p in ps:
//!             p.join()
//!         end = alice.get_salary()
//!         print(f'{alice.get_name()}: salary {end} ({end - start} higher)')
//!         company = m.Company()
//!         bob = company.hire('Bob')
//!         bob.increase(500)
//!         print(f'hired {bob.get_name()} ({company.get_hired()} so far): salary {bob.get_salary()}')
//! ```

use manager_client::blocking::{Client, LockProxy};
use manager_client::{Shared, shared};
use manager_server::Server;

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).is_some() {
        let client = Client::from_env()?;
        let (employee, payroll): (EmployeeBlockingProxy, LockProxy) =
            (client.inherited("employee")?, client.inherited("payroll")?);
        let _guard = payroll.lock()?;
        let (before, after) = (employee.salary()?, employee.increase(100)?);
        println!("worker {}: {before} -> {after}", std::process::id());
        return Ok(());
    }
    let server = Server::builder().register::<Employee>().register::<Company>().start_blocking()?;
    let m = Client::connect(server.address(), server.authkey())?;
    let (alice, payroll) = (EmployeeBlockingProxy::create(&m, "Alice".into(), 50_000)?, m.lock()?);
    let start = alice.salary()?;
    println!("{}: salary {start}", alice.name()?);
    let worker = || m.worker().arg("worker").proxy("employee", &alice).proxy("payroll", &payroll).spawn();
    let ps: Vec<_> = (0..10).map(|_| worker()).collect();
    ps.into_iter().try_for_each(|p| p?.join())?;
    let end = alice.salary()?;
    println!("{}: salary {end} ({} higher)", alice.name()?, end - start);
    let company = CompanyBlockingProxy::create(&m)?;
    let bob = company.hire("Bob".into())?;
    bob.increase(500)?;
    println!("hired {} ({} so far): salary {}", bob.name()?, company.hired()?, bob.salary()?);
    Ok(())
}
