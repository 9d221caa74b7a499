import ApusCore
import ApusDevices

/// One device's state in a snapshot, tagged by device kind so a restore can check it lands on the same kind.
enum SavedDevice: Codable, Sendable, Equatable {
    case serial(Serial16550.State)
    case debugExit(DebugExitDevice.State)
    case postCode(PostCodePort.State)
    case pic(DualPIC.State)
    case pit(PIT8254.State)
    case cmos(CMOSClock.State)
    case keyboardController(I8042Controller.State)
    case firmwareConfig(FirmwareConfig.State)
    case ioapic(IOAPICState)
    case localAPIC(LocalAPICState)
    case acpiPowerManagement(ACPIPowerManagement.State)

    static func save(_ device: any BusDevice) -> SavedDevice? {
        switch device {
        case let uart as Serial16550: return .serial(uart.saveState())
        case let exit as DebugExitDevice: return .debugExit(exit.saveState())
        case let post as PostCodePort: return .postCode(post.saveState())
        case let pic as DualPIC: return .pic(pic.saveState())
        case let pit as PIT8254: return .pit(pit.saveState())
        case let cmos as CMOSClock: return .cmos(cmos.saveState())
        case let keyboard as I8042Controller: return .keyboardController(keyboard.saveState())
        case let firmware as FirmwareConfig: return .firmwareConfig(firmware.saveState())
        case let ioapic as IOAPIC: return .ioapic(ioapic.saveState())
        case let apic as LocalAPIC: return .localAPIC(apic.saveState())
        case let power as ACPIPowerManagement: return .acpiPowerManagement(power.saveState())
        default: return nil
        }
    }

    func restore(into device: any BusDevice, name: String) throws {
        switch (self, device) {
        case (.serial(let state), let uart as Serial16550): try uart.restoreState(state)
        case (.debugExit(let state), let exit as DebugExitDevice): try exit.restoreState(state)
        case (.postCode(let state), let post as PostCodePort): try post.restoreState(state)
        case (.pic(let state), let pic as DualPIC): try pic.restoreState(state)
        case (.pit(let state), let pit as PIT8254): try pit.restoreState(state)
        case (.cmos(let state), let cmos as CMOSClock): try cmos.restoreState(state)
        case (.keyboardController(let state), let keyboard as I8042Controller): try keyboard.restoreState(state)
        case (.firmwareConfig(let state), let firmware as FirmwareConfig): try firmware.restoreState(state)
        case (.ioapic(let state), let ioapic as IOAPIC): try ioapic.restoreState(state)
        case (.localAPIC(let state), let apic as LocalAPIC): try apic.restoreState(state)
        case (.acpiPowerManagement(let state), let power as ACPIPowerManagement): try power.restoreState(state)
        default: throw SnapshotError.corrupt("saved state for device \(name) is for another kind of device")
        }
    }
}
