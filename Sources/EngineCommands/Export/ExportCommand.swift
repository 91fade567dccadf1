import Foundation
import Language
import Storage

// The PyTorch half of `export` (the command itself is declared with plot's in PlotCommands.swift).

extension Session {
    /// `export MODEL to="FILE.py"` writes the model as a PyTorch module; `export session to="FILE.py"` writes the
    /// session's SSKD recipe as a script (and the teacher beside it when it has no checkpoint holding its weights),
    /// with a warning when the teacher was trained again after the student learned from it.
    /// - Throws: an error at the target for anything but a model or the word `session`, at `to` when the file cannot
    ///   be written (missing folder; nothing is written then).
    func exportPyTorch(_ inv: Invocation, to path: String) throws {
        do { try requireParentFolder(of: path) } catch { throw inv.error("\(error)", at: ExportOption.file) }
        let name = (path as NSString).lastPathComponent
        let text: String
        let report: String
        var warnings: [String] = []
        switch inv.value("target") {
        case .object(let object as ModelObject):
            do {
                text = try PyTorchExport.modelFile(object, facts: recordedFacts(object), fileName: name)
            } catch { throw inv.error("\(error)", at: "target") }
            let stages = object.model.stages.map(\.name).joined(separator: ", ")
            report =
                "wrote \(object.model.architecture) as a PyTorch module to \(path) (stages \(stages)); "
                + "load(\"CHECKPOINT.safetensors\") reads what save writes"
        case .string("session"):
            let recipe: SessionRecipe
            do { recipe = try SessionRecipe(self, script: path) } catch { throw inv.error("\(error)", at: "target") }
            if let teacher = recipe.teacherToWrite {
                do { try saveModel(teacher, to: recipe.teacherFile) } catch {
                    throw inv.error("\(error)", at: ExportOption.file)
                }
            }
            text = PyTorchExport.sessionScript(recipe, fileName: name)
            warnings = recipe.warnings
            report =
                "wrote the SSKD recipe of \(recipe.studentName) (\(counted(recipe.runCount, "run"))"
                + (recipe.baselineCount > 0 ? ", \(counted(recipe.baselineCount, "baseline"))" : "")
                + ") to \(path); run it with python \(name) or torchrun --nproc_per_node=N \(name)"
        default:
            throw inv.error(
                "export to a .py file takes a model or the word session, got \(inv.value("target").literal)",
                at: "target")
        }
        do { try atomicWrite(Data(text.utf8), to: path) } catch let error as StorageError {
            throw inv.error("cannot write '\(path)': \(error.reason)", at: ExportOption.file)
        }
        for warning in warnings { print("warning: " + warning) }
        print(report)
    }
}
