// apus-bench-softcpu: guest MIPS of the software CPU on a compute loop (ALU, a load and a store per iteration),
// entered in 64-bit long mode with paging on. bench/softcpu/run.sh prints it.
import ApusBoot
import ApusCore
import ApusSoftCPU
import Foundation

let iterations: UInt32 = CommandLine.arguments.dropFirst().first.flatMap(UInt32.init) ?? 5_000_000
// mov ecx, N; loop: add rax, rcx; xor rdx, rax; mov [0x200000], rdx; mov rbx, [0x200000]; dec ecx; jnz loop; hlt
var code: [UInt8] = [0xB9] + withUnsafeBytes(of: iterations.littleEndian, Array.init)
code += [0x48, 0x01, 0xC8, 0x48, 0x31, 0xC2, 0x48, 0x89, 0x14, 0x25, 0x00, 0x00, 0x20, 0x00,
         0x48, 0x8B, 0x1C, 0x25, 0x00, 0x00, 0x20, 0x00, 0xFF, 0xC9, 0x75, 0xE6, 0xF4]
let instructionsPerIteration = 6.0

do {
    let memory = try GuestMemory(size: 8 << 20)
    try memory.write(code, at: GuestAddress(0x100000))
    let vcpu = try SoftCPUHypervisor().makeMachine(memory: memory, options: MachineOptions()).makeVCPU(index: 0)
    let (registers, special) = try EntryState.longMode(entry: 0x100000, stack: 0x80000, memory: memory)
    try vcpu.setSpecialRegisters(special)
    try vcpu.setRegisters(registers)
    let start = DispatchTime.now().uptimeNanoseconds
    let exit = try vcpu.run()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    guard case .halt = exit else { throw SoftCPUError.unsupported("the benchmark loop (ended with \(exit.kind))") }
    let executed = Double(iterations) * instructionsPerIteration + 2
    print(String(format: "soft CPU: %.0f instructions in %.2f s = %.1f MIPS", executed, seconds, executed / seconds / 1e6))
} catch {
    FileHandle.standardError.write(Data("apus-bench-softcpu: \(error)\n".utf8))
    exit(1)
}
