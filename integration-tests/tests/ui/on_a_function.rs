use manager_client::shared;

#[shared]
pub fn not_a_type() {}

fn main() {}
