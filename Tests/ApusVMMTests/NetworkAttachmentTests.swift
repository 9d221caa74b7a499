import ApusCore
@testable import ApusVMM
import Testing

/// `--net tap=NAME[,mac=...]` as the command line and a VM definition give it.
@Suite struct NetworkAttachmentTests {
    @Test func parsesATapAndAMAC() throws {
        let network = try NetworkAttachment(argument: "tap=tap0,mac=52:54:00:12:34:56")
        #expect(network.tap == "tap0")
        #expect(network.mac == [0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
        #expect(network.macString == "52:54:00:12:34:56")
    }

    @Test func theDefaultMACIsLocallyAdministeredUnicastAndStable() throws {
        let first = try NetworkAttachment(argument: "tap=apus0")
        #expect(first.mac == (try NetworkAttachment(tap: "apus0")).mac, "the same name gives the same MAC")
        #expect(first.mac[0] == 0x02, "locally administered, unicast")
        #expect(first.mac != (try NetworkAttachment(tap: "apus1")).mac)
    }

    @Test(arguments: ["", "tap=", "mac=52:54:00:12:34:56", "tap=a/b", "tap=0123456789abcdef", "tap=x,mac=01:00:00:00:00:01",
                      "tap=x,mac=52:54:00:12:34", "tap=x,mac=52:54:00:12:34:zz", "tap=x,speed=10", "tap=has space"])
    func refusesWhatIsNotANetwork(argument: String) {
        #expect(throws: VMMError.self) { try NetworkAttachment(argument: argument) }
    }

    @Test func aMachineNeedsDistinctTapsAndThePCIPlatform() throws {
        var configuration = MachineConfiguration(boot: .linux(kernel: [0], initrd: nil, commandLine: ""))
        configuration.networks = [try NetworkAttachment(tap: "t0"), try NetworkAttachment(tap: "t0")]
        #expect(throws: VMMError.self) { try configuration.validate() }
        configuration.networks = [try NetworkAttachment(tap: "t0")]
        try configuration.validate()
        configuration.interruptController = InterruptControllerMode.none
        #expect(throws: VMMError.self) { try configuration.validate() }
    }
}
