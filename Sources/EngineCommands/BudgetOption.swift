import Datasets
import Distillation
import Foundation
import Language
import Networks
import Tensors

// The `budget=` option of train, kd, fitnet and at: train for the compute of another model's runs, or for N GMAC.

extension Session {
    /// The step count whose whole cost (`cost`, MACs as a function of steps) matches the `budget=` option:
    /// a model (the compute of all its runs so far) or a number of GMAC.
    /// `makeCost` builds the estimate (`Baselines.scratchCost` and kin); its errors are reported at the command.
    func budgetSteps(_ inv: Invocation, cost makeCost: () throws -> (Int) -> Int) throws -> Int {
        let target = try budgetMACs(inv)
        let cost: (Int) -> Int
        do { cost = try makeCost() } catch { throw engineError(inv, error) }
        guard cost(1) <= target else {
            throw inv.error(
                "option 'budget': \(ComputeCost.format(target)) does not pay for one step and a validation "
                    + "(\(ComputeCost.format(cost(1))))",
                at: "budget")
        }
        guard cost(ComputeBudget.maximumSteps) > target else {
            throw inv.error(
                "option 'budget': \(ComputeCost.format(target)) is more than \(ComputeBudget.maximumSteps) steps",
                at: "budget")
        }
        let steps = ComputeBudget.steps(budget: target, cost: cost)
        print("budget: \(steps) steps, \(ComputeCost.format(cost(steps))) of \(ComputeCost.format(target))")
        return steps
    }

    /// The `budget=` option in MACs: a model's runs' total compute, or a number of GMAC.
    func budgetMACs(_ inv: Invocation) throws -> Int {
        guard !inv.isGiven("epochs") && !inv.isGiven("steps") else {
            throw inv.error("give budget= or epochs=/steps=, not both", at: "budget")
        }
        let target: Int
        switch inv.value("budget") {
        case .object(let m as ModelObject):
            target = m.records.reduce(0) { $0 + $1.compute.total }
            guard target > 0 else {
                throw inv.error(
                    "option 'budget': \(workspace.name(of: m, in: self)) has no training runs yet", at: "budget")
            }
        case .number(let g):
            guard g > 0, g < 1e9 else {
                throw inv.error(
                    "option 'budget': must be a positive number of GMAC below 1e9, got \(Value.format(g))", at: "budget"
                )
            }
            target = Int(g * 1e9)
        default:
            throw inv.error(
                "option 'budget': takes a model or a number of GMAC, got \(inv.value("budget").literal)", at: "budget")
        }
        return target
    }
}
