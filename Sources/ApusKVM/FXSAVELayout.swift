import ApusCore
import CKVM

/// Converts between KVM's `kvm_fpu` and the 512-byte FXSAVE image (SDM Vol. 1, Table 10-2) that ApusCore uses.
enum FXSAVELayout {
    static func fxsave(from raw: kvm_fpu) -> FPUState {
        var area = [UInt8](repeating: 0, count: FPUState.size)
        put(&area, 0, UInt64(raw.fcw), 2)
        put(&area, 2, UInt64(raw.fsw), 2)
        area[4] = raw.ftwx
        put(&area, 6, UInt64(raw.last_opcode), 2)
        put(&area, 8, raw.last_ip, 8)
        put(&area, 16, raw.last_dp, 8)
        put(&area, 24, UInt64(raw.mxcsr), 4)
        put(&area, 28, 0xFFFF, 4)  // MXCSR_MASK: every MXCSR bit KVM exposes is writable
        withUnsafeBytes(of: raw.fpr) { fpr in
            for i in 0..<128 { area[32 + i] = fpr[i] }
        }
        withUnsafeBytes(of: raw.xmm) { xmm in
            for i in 0..<256 { area[160 + i] = xmm[i] }
        }
        return FPUState(fxsave: area)
    }

    static func kvmFPU(from state: FPUState) -> kvm_fpu {
        let area = state.fxsave
        var raw = kvm_fpu()
        raw.fcw = UInt16(get(area, 0, 2))
        raw.fsw = UInt16(get(area, 2, 2))
        raw.ftwx = area[4]
        raw.last_opcode = UInt16(get(area, 6, 2))
        raw.last_ip = get(area, 8, 8)
        raw.last_dp = get(area, 16, 8)
        raw.mxcsr = UInt32(get(area, 24, 4))
        withUnsafeMutableBytes(of: &raw.fpr) { fpr in
            for i in 0..<128 { fpr[i] = area[32 + i] }
        }
        withUnsafeMutableBytes(of: &raw.xmm) { xmm in
            for i in 0..<256 { xmm[i] = area[160 + i] }
        }
        return raw
    }

    private static func put(_ area: inout [UInt8], _ offset: Int, _ value: UInt64, _ size: Int) {
        for i in 0..<size { area[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    private static func get(_ area: [UInt8], _ offset: Int, _ size: Int) -> UInt64 {
        (0..<size).reduce(0) { $0 | UInt64(area[offset + $1]) << (8 * UInt64($1)) }
    }
}
