//! The in-memory directory passes the store conformance suite.

use scim_directory::AdminEvent;
use scim_directory::conformance::{Subject, run};
use scim_directory::memory::MemoryDirectory;

struct Memory;

impl Subject for Memory {
    type Dir = MemoryDirectory;

    fn fresh(&mut self) -> Box<MemoryDirectory> {
        let mut directory = MemoryDirectory::new();
        directory.add_organization("acme");
        directory.add_organization("globex");
        Box::new(directory)
    }

    fn committed_events(&mut self, directory: Box<MemoryDirectory>) -> Vec<AdminEvent> {
        directory.events
    }
}

#[test]
fn memory_directory_conforms() {
    run(&mut Memory);
}
