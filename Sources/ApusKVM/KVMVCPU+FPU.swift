public import ApusCore
import CKVM

/// How this host's KVM hands over x87/SSE state.
///
/// The XSAVE ioctls are preferred because their first 512 bytes are the FXSAVE image itself, and because KVM_GET_FPU
/// and KVM_SET_FPU on some kernels (the 6.18 build machines among them) ignore MXCSR. kvm_fpu is the fallback for
/// hosts without XSAVE.
enum FPUAccess {
    /// KVM_GET_XSAVE2 / KVM_SET_XSAVE with a buffer of this many bytes (it grows with AMX and friends).
    case xsave2(size: Int)
    /// KVM_GET_XSAVE / KVM_SET_XSAVE with the fixed 4 KiB `kvm_xsave`.
    case xsave
    case legacy

    init(_ system: KVMSystem) {
        let xsave2Size = Int(system.checkExtension(Int32(KVM_CAP_XSAVE2)))
        if xsave2Size >= MemoryLayout<kvm_xsave>.size {
            self = .xsave2(size: xsave2Size)
        } else if system.checkExtension(Int32(KVM_CAP_XSAVE)) != 0 {
            self = .xsave
        } else {
            self = .legacy
        }
    }
}

/// The XSAVE header's XSTATE_BV, right after the 512-byte legacy area: which components the image holds.
private let xstateBVOffset = FPUState.size
/// Bytes 464-511 of the FXSAVE image, which the processor never writes (SDM Vol. 1, Table 10-2).
private let softwareArea = 464..<FPUState.size
/// x87 (bit 0) and SSE (bit 1): the components FPUState carries.
private let x87AndSSE: UInt64 = 0b11

extension KVMVCPU {
    public func fpu() throws -> FPUState {
        switch machine.fpuAccess {
        case .legacy:
            var raw = kvm_fpu()
            _ = try checked("KVM_GET_FPU") { ckvm_get_fpu(fd, &raw) }
            return FXSAVELayout.fxsave(from: raw)
        case .xsave, .xsave2:
            // The kernel fills components absent from XSTATE_BV with their initial values, so the legacy area is
            // always a complete FXSAVE image. Its software-available tail is not CPU state (Linux stores the host's
            // XCR0 there): it is left zero, as FXSAVE leaves it, so the state does not depend on the host.
            var area = Array(try xsaveImage().prefix(FPUState.size))
            area.replaceSubrange(softwareArea, with: repeatElement(0, count: softwareArea.count))
            return FPUState(fxsave: area)
        }
    }

    public func setFPU(_ state: FPUState) throws {
        switch machine.fpuAccess {
        case .legacy:
            var raw = FXSAVELayout.kvmFPU(from: state)
            _ = try checked("KVM_SET_FPU") { ckvm_set_fpu(fd, &raw) }
        case .xsave, .xsave2:
            // Keep the other components (AVX and beyond) as they are; replace x87/SSE and mark them present.
            var image = try xsaveImage()
            image.replaceSubrange(0..<softwareArea.lowerBound, with: state.fxsave[0..<softwareArea.lowerBound])
            image.withUnsafeMutableBytes { bytes in
                let bv = bytes.loadUnaligned(fromByteOffset: xstateBVOffset, as: UInt64.self)
                bytes.storeBytes(of: bv | x87AndSSE, toByteOffset: xstateBVOffset, as: UInt64.self)
            }
            _ = try image.withUnsafeBytes { bytes in
                try checked("KVM_SET_XSAVE") { ckvm_set_xsave_sized(fd, bytes.baseAddress) }
            }
        }
    }

    /// The whole XSAVE image in KVM's uncompacted user-space layout.
    private func xsaveImage() throws -> [UInt8] {
        switch machine.fpuAccess {
        case .xsave2(let size):
            var image = [UInt8](repeating: 0, count: size)
            _ = try image.withUnsafeMutableBytes { bytes in
                try checked("KVM_GET_XSAVE2") { ckvm_get_xsave2(fd, bytes.baseAddress) }
            }
            return image
        case .xsave, .legacy:
            var raw = kvm_xsave()
            _ = try checked("KVM_GET_XSAVE") { ckvm_get_xsave(fd, &raw) }
            return withUnsafeBytes(of: &raw) { Array($0) }
        }
    }
}
