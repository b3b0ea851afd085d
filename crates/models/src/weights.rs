//! The weight table: every weight's name, type and shape, without its bytes. It comes from a
//! GGUF's tensor table (reading a 70 GB file's table is instant) or from a preset (no file), and
//! is all a graph builder needs: weights are graph leaves, their bytes matter only to the
//! executor.
//!
//! Architectures check the table against their hyperparameters with [`WeightTable::expect`],
//! the counterpart of llama.cpp's `create_tensor` / `check_tensor_dims` (all four dimensions
//! compared, missing trailing ones being 1), and then refuse tensors they did not consume, as
//! llama.cpp's loader refuses a file with tensors it did not create.

use std::collections::{BTreeMap, HashMap};

use tt_core::GgmlType;

use crate::error::ModelError;

/// One weight: what the graph needs to know of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightInfo {
    /// GGUF tensor name (`blk.0.attn_q.weight`).
    pub name: String,
    pub ty: GgmlType,
    /// ggml shape, ne[0] innermost; trailing dimensions 1.
    pub ne: [i64; 4],
}

impl WeightInfo {
    pub fn n_elements(&self) -> u64 {
        self.ne.iter().map(|&n| n as u64).product()
    }

    /// Bytes of the weight's data (rows of whole blocks), or `None` if ne0 is not a whole number
    /// of the type's blocks.
    pub fn n_bytes(&self) -> Option<u64> {
        let rows = self.n_elements() / (self.ne[0].max(1) as u64);
        self.ty.row_size(self.ne[0] as u64)?.checked_mul(rows)
    }
}

/// All weights of a model, in file order, looked up by name.
#[derive(Clone, Debug, Default)]
pub struct WeightTable {
    list: Vec<WeightInfo>,
    by_name: HashMap<String, usize>,
}

impl WeightTable {
    pub fn new() -> WeightTable {
        WeightTable::default()
    }

    /// Adds a weight; a name already present is an error.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        ty: GgmlType,
        ne: [i64; 4],
    ) -> Result<(), ModelError> {
        let name = name.into();
        if self.by_name.contains_key(&name) {
            return Err(ModelError::DuplicateWeight { name });
        }
        self.by_name.insert(name.clone(), self.list.len());
        self.list.push(WeightInfo { name, ty, ne });
        Ok(())
    }

    /// The tensor table of a GGUF file (metadata only; no tensor bytes are read).
    pub fn from_gguf(file: &tt_core::gguf::GgufFile) -> Result<WeightTable, ModelError> {
        let mut table = WeightTable::new();
        for t in file.tensors() {
            let ty = t.ty.map_err(|id| ModelError::UnknownWeightType {
                name: t.name.clone(),
                id,
            })?;
            let mut ne = [1i64; 4];
            for (d, &n) in ne.iter_mut().zip(t.ne.iter()) {
                *d = i64::try_from(n).map_err(|_| ModelError::WeightDim {
                    name: t.name.clone(),
                    found: n,
                })?;
            }
            table.insert(t.name.clone(), ty, ne)?;
        }
        Ok(table)
    }

    pub fn get(&self, name: &str) -> Option<&WeightInfo> {
        self.by_name.get(name).map(|&i| &self.list[i])
    }

    /// Weights in table (file) order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &WeightInfo> + '_ {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every weight type in the table with how many weights have it: what an executor must be
    /// able to compute with (dequantize, dot products) to run this model.
    pub fn types(&self) -> BTreeMap<GgmlType, usize> {
        let mut m = BTreeMap::new();
        for w in &self.list {
            *m.entry(w.ty).or_insert(0) += 1;
        }
        m
    }

    /// Total parameters.
    pub fn n_params(&self) -> u64 {
        self.list.iter().map(WeightInfo::n_elements).sum()
    }

    /// Total bytes of weight data.
    pub fn n_bytes(&self) -> u64 {
        self.list.iter().filter_map(WeightInfo::n_bytes).sum()
    }

    /// Starts checking this table against an architecture's needs.
    pub fn check(&self, arch: &str) -> WeightCheck<'_> {
        WeightCheck {
            table: self,
            arch: arch.to_string(),
            used: vec![false; self.list.len()],
        }
    }
}

/// A check of a weight table in progress: each weight the architecture asks for is looked up
/// and its shape compared; [`WeightCheck::finish`] then refuses what was never asked for.
pub struct WeightCheck<'t> {
    table: &'t WeightTable,
    arch: String,
    used: Vec<bool>,
}

impl<'t> WeightCheck<'t> {
    /// A required weight of shape `ne` (trailing dimensions omitted are 1).
    pub fn expect(&mut self, name: &str, ne: &[i64]) -> Result<&'t WeightInfo, ModelError> {
        self.optional(name, ne)?
            .ok_or_else(|| ModelError::MissingWeight {
                name: name.to_string(),
                arch: self.arch.clone(),
            })
    }

    /// A weight the architecture uses when present.
    pub fn optional(
        &mut self,
        name: &str,
        ne: &[i64],
    ) -> Result<Option<&'t WeightInfo>, ModelError> {
        let Some(&i) = self.table.by_name.get(name) else {
            return Ok(None);
        };
        let w = &self.table.list[i];
        let mut expected = [1i64; 4];
        expected[..ne.len()].copy_from_slice(ne);
        if w.ne != expected {
            return Err(ModelError::WeightShape {
                name: name.to_string(),
                expected,
                found: w.ne,
            });
        }
        self.used[i] = true;
        Ok(Some(w))
    }

    /// Refuses the first weight that was never asked for. `why` says what such tensors usually
    /// are for this architecture (biases, fused projections, experts, …).
    pub fn finish(self, why: &'static str) -> Result<(), ModelError> {
        match self.used.iter().position(|&u| !u) {
            None => Ok(()),
            Some(i) => Err(ModelError::UnexpectedWeight {
                name: self.table.list[i].name.clone(),
                arch: self.arch,
                why,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> WeightTable {
        let mut t = WeightTable::new();
        t.insert("token_embd.weight", GgmlType::Q8_0, [576, 49152, 1, 1])
            .unwrap();
        t.insert("output_norm.weight", GgmlType::F32, [576, 1, 1, 1])
            .unwrap();
        t.insert("blk.0.attn_q.bias", GgmlType::F32, [576, 1, 1, 1])
            .unwrap();
        t
    }

    #[test]
    fn shapes_are_compared_in_all_four_dimensions() {
        let t = table();
        let mut c = t.check("llama");
        assert_eq!(
            c.expect("output_norm.weight", &[576]).unwrap().ty,
            GgmlType::F32
        );
        let e = c.expect("token_embd.weight", &[576, 32000]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "weight 'token_embd.weight' has shape [576, 49152, 1, 1], expected [576, 32000, 1, 1] \
             (from the hyperparameters)"
        );
        let e = c.expect("output_norm.weight", &[576, 2]).unwrap_err();
        assert!(matches!(
            e,
            ModelError::WeightShape {
                expected: [576, 2, 1, 1],
                found: [576, 1, 1, 1],
                ..
            }
        ));
    }

    #[test]
    fn missing_and_unused_weights_are_named() {
        let t = table();
        let mut c = t.check("llama");
        assert_eq!(
            c.expect("blk.0.attn_k.weight", &[576, 192])
                .unwrap_err()
                .to_string(),
            "weight 'blk.0.attn_k.weight' is missing: the llama architecture needs it"
        );
        assert!(c
            .optional("output.weight", &[576, 49152])
            .unwrap()
            .is_none());
        c.expect("token_embd.weight", &[576, 49152]).unwrap();
        c.expect("output_norm.weight", &[576]).unwrap();
        assert_eq!(
            c.finish("a bias").unwrap_err().to_string(),
            "tensor 'blk.0.attn_q.bias' is not used by the llama graph built here (a bias)"
        );
    }

    #[test]
    fn duplicates_are_refused_and_types_counted() {
        let mut t = table();
        assert_eq!(
            t.insert("output_norm.weight", GgmlType::F32, [576, 1, 1, 1])
                .unwrap_err()
                .to_string(),
            "weight 'output_norm.weight' appears twice in the tensor table"
        );
        let types = t.types();
        assert_eq!(types.get(&GgmlType::F32), Some(&2));
        assert_eq!(types.get(&GgmlType::Q8_0), Some(&1));
        assert_eq!(t.n_params(), 576 * 49152 + 576 + 576);
        // Q8_0: 34 bytes per 32 values; f32: 4 bytes each.
        assert_eq!(t.n_bytes(), 576 / 32 * 34 * 49152 + 2 * 576 * 4);
    }
}
