import ApusAPI
import Foundation
import Testing

@Suite struct DefinitionDecodingTests {
    private func decode(_ json: String) throws -> VMDefinition {
        try JSONDecoder().decode(VMDefinition.self, from: Data(json.utf8))
    }

    @Test func defaultsFillWhatIsLeftOut() throws {
        let definition = try decode(#"{"name": "a", "boot": {"guest": "hello"}}"#)
        #expect(definition == VMDefinition(name: "a", memoryMiB: 64, vcpus: 1, backend: "auto", boot: .guest("hello")))
    }

    @Test func roundTripsEveryBootSource() throws {
        for boot: BootSpec in [.guest("counter"), .image(path: "/g.elf"),
                               .linux(kernel: "/k", initrd: "/i", commandLine: "console=ttyS0"),
                               .linux(kernel: "/k", initrd: nil, commandLine: nil)] {
            let definition = VMDefinition(name: "vm", memoryMiB: 128, boot: boot)
            #expect(try JSONDecoder().decode(VMDefinition.self, from: JSONEncoder().encode(definition)) == definition)
        }
    }

    @Test func disksDecodeStrictlyAndDefaultToNone() throws {
        #expect(try decode(#"{"name": "a", "boot": {"guest": "x"}}"#).disks == [])
        let definition = try decode(#"{"name": "a", "boot": {"guest": "x"}, "disks": [{"path": "/r.qcow2"}, {"path": "/d.raw", "readOnly": true}]}"#)
        #expect(definition.disks == [DiskSpec(path: "/r.qcow2"), DiskSpec(path: "/d.raw", readOnly: true)])
        #expect(try JSONDecoder().decode(VMDefinition.self, from: JSONEncoder().encode(definition)) == definition)
        #expect(throws: DecodingError.self) { try decode(#"{"name": "a", "boot": {"guest": "x"}, "disks": [{"path": "/r", "ro": true}]}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"name": "a", "boot": {"guest": "x"}, "disks": [{"readOnly": true}]}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"name": "a", "boot": {"guest": "x"}, "disks": {"path": "/r"}}"#) }
        let clone = try JSONDecoder().decode(CloneRequest.self, from: Data(#"{"name": "c1"}"#.utf8))
        #expect(clone == CloneRequest(name: "c1"))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(CloneRequest.self, from: Data(#"{"name": "c", "vcpus": 2}"#.utf8)) }
    }

    @Test func unknownFieldsAreRejectedByName() {
        #expect(throws: DecodingError.self) { try decode(#"{"name": "a", "memoryMib": 5, "boot": {"guest": "x"}}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"name": "a", "boot": {"guest": "x", "kernal": "/k"}}"#) }
    }

    @Test func bootNeedsExactlyOneSource() {
        #expect(throws: DecodingError.self) { try decode(#"{"name": "a", "boot": {}}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"name": "a", "boot": {"guest": "x", "image": "/y"}}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"name": "a", "boot": {"guest": "x", "initrd": "/y"}}"#) }
    }

    @Test func namesAreSafeInPathsAndShells() {
        for good in ["a", "web-1", "db_2.test", "X9"] { #expect(VMDefinition.problem(withName: good) == nil) }
        for bad in ["", "-a", ".hidden", "a/b", "../x", "a b", "é", String(repeating: "a", count: 64)] {
            #expect(VMDefinition.problem(withName: bad) != nil, "\(bad)")
        }
    }
}
