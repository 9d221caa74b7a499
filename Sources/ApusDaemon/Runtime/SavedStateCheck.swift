import ApusVMM
import Foundation

/// Whether a suspended VM's directory holds a machine state this Apus can restore.
enum SavedStateCheck {
    static func problem(at directory: String) -> String? {
        do {
            try Machine.checkSavedState(at: URL(fileURLWithPath: directory))
            return nil
        } catch {
            return "\(error)"
        }
    }
}
