//! MLIR side of pimlir: the context with our IRDL dialects loaded, diagnostics capture, and
//! typed access to op attributes. `graph_ir` and `isa_ir` convert between MLIR and the plain
//! Rust models of `crate::graph` and `crate::isa`; everything else works on those models.

pub mod graph_ir;
pub mod isa_ir;

use crate::diag::{Diagnostic, Loc, Severity};
use melior::diagnostic::DiagnosticSeverity;
use melior::dialect::{DialectHandle, DialectRegistry};
use melior::ir::attribute::{BoolAttribute, DenseI64ArrayAttribute, FloatAttribute, IntegerAttribute, StringAttribute};
use melior::ir::block::BlockLike;
use melior::ir::operation::{OperationLike, OperationMutLike, OperationRef};
use melior::ir::r#type::IntegerType;
use melior::ir::{Attribute, AttributeLike, Identifier, Location, Module, Type};
use melior::Context;
use std::cell::RefCell;
use std::rc::Rc;

/// The IRDL definitions, embedded so the binaries need no files at run time.
pub const DIALECTS: &[(&str, &str)] = &[
    ("graph", include_str!("../../dialects/graph.irdl.mlir")),
    ("pim_partition", include_str!("../../dialects/pim_partition.irdl.mlir")),
    ("pim_core", include_str!("../../dialects/pim_core.irdl.mlir")),
    ("pim_isa", include_str!("../../dialects/pim_isa.irdl.mlir")),
];

/// A context with builtin, func, arith, affine and our four dialects loaded. Single-threaded:
/// our passes are module passes, and diagnostics then arrive in order.
pub fn new_context() -> Context {
    let registry = DialectRegistry::new();
    // SAFETY: the IRDL dialect handle is a static registration function from MLIR's C API.
    let irdl = unsafe { DialectHandle::from_raw(mlir_sys::mlirGetDialectHandle__irdl__()) };
    for h in [DialectHandle::func(), DialectHandle::arith(), DialectHandle::affine(), irdl] {
        h.insert_dialect(&registry);
    }
    let ctx = Context::new_with_registry(&registry, false);
    ctx.load_all_available_dialects();
    for (name, text) in DIALECTS {
        let module = Module::parse(&ctx, text).unwrap_or_else(|| panic!("embedded IRDL of '{name}' parses"));
        assert!(melior::utility::load_irdl_dialects(&module), "IRDL of '{name}' loads");
        // The dialect definitions live as long as the context; keep their IRDL ops alive too.
        std::mem::forget(module);
    }
    ctx
}

/// Collects the diagnostics MLIR reports (parser, verifier, our passes) as pimlir diagnostics.
pub struct DiagnosticCapture {
    pub diagnostics: Rc<RefCell<Vec<Diagnostic>>>,
}

impl DiagnosticCapture {
    pub fn attach(ctx: &Context) -> DiagnosticCapture {
        let diagnostics: Rc<RefCell<Vec<Diagnostic>>> = Rc::default();
        let sink = diagnostics.clone();
        ctx.attach_diagnostic_handler(move |d| {
            let mut diag = convert(&d);
            for i in 0..d.note_count() {
                if let Ok(n) = d.note(i) {
                    diag.notes.push(convert(&n));
                }
            }
            sink.borrow_mut().push(diag);
            true
        });
        DiagnosticCapture { diagnostics }
    }

    /// Takes the diagnostics collected so far.
    pub fn take(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diagnostics.borrow_mut())
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.borrow().iter().any(|d| d.severity == Severity::Error)
    }
}

fn convert(d: &melior::diagnostic::Diagnostic) -> Diagnostic {
    let severity = match d.severity() {
        DiagnosticSeverity::Error => Severity::Error,
        DiagnosticSeverity::Warning => Severity::Warning,
        DiagnosticSeverity::Note => Severity::Note,
        DiagnosticSeverity::Remark => Severity::Remark,
    };
    let loc = location_to_loc(d.location());
    let mut message = d.to_string();
    // Imported models have no line numbers; name the node instead.
    if let (Some(name), true) = (location_name(d.location()), loc.as_ref().is_none_or(|l| l.line == 0)) {
        if !message.contains(&name) {
            message = format!("'{name}': {message}");
        }
    }
    Diagnostic { severity, loc, message, notes: vec![] }
}

/// The name of a name location (`loc("conv1"(...))`), as the importers give every node.
fn location_name(loc: Location) -> Option<String> {
    if loc.is_name() {
        Some(string_of(loc.name_value().as_string_ref().to_raw()))
    } else {
        None
    }
}

/// The file position of an MLIR location (through name, call-site and fused wrappers).
pub fn location_to_loc(loc: Location) -> Option<Loc> {
    if loc.is_file_line_col_range() {
        let file = loc.file_line_col_range_filename();
        let file = string_of(file.as_string_ref().to_raw());
        let line = loc.file_line_col_range_start_line();
        let col = loc.file_line_col_range_start_column();
        Some(Loc::new(file, line.min(u32::MAX as usize) as u32, col.min(u32::MAX as usize) as u32))
    } else if loc.is_name() {
        location_to_loc(loc.name_child_location())
    } else if loc.is_call_site() {
        location_to_loc(loc.call_site_callee()).or_else(|| location_to_loc(loc.call_site_caller()))
    } else if loc.is_fused() {
        (0..loc.fused_num_locations()).find_map(|i| location_to_loc(loc.fused_location(i)))
    } else {
        None
    }
}

/// An MLIR string as an owned `String`. (melior's `StringRef::as_str` cannot take the empty
/// string, whose data pointer MLIR leaves null.)
pub fn string_of(s: mlir_sys::MlirStringRef) -> String {
    if s.length == 0 || s.data.is_null() {
        return String::new();
    }
    // SAFETY: MLIR guarantees `length` valid bytes at `data` for the duration of the call.
    let bytes = unsafe { std::slice::from_raw_parts(s.data as *const u8, s.length) };
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reports an error at an MLIR location through the context's diagnostic handlers.
pub fn emit_error(loc: Location, message: &str) {
    let msg = std::ffi::CString::new(message.replace('\0', " ")).expect("NULs replaced");
    // SAFETY: `loc` is a live location of a live context; MLIR copies the message.
    unsafe { mlir_sys::mlirEmitError(loc.to_raw(), msg.as_ptr()) }
}

/// How deep brackets may nest in MLIR text pimlir hands to MLIR's parser, which recurses and
/// would exhaust the stack (and abort the process) on deeper input.
pub const MAX_MLIR_NESTING: usize = 1000;

/// The position (1-based line and column) where `src` nests brackets deeper than `limit`,
/// outside strings and comments.
pub fn too_deep(src: &str, limit: usize) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    let mut chars = src.chars().peekable();
    let (mut in_str, mut in_comment) = (false, false);
    while let Some(c) = chars.next() {
        col += 1;
        if c == '\n' {
            line += 1;
            col = 0;
            in_comment = false;
            continue;
        }
        if in_comment {
            continue;
        }
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                    col += 1;
                }
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '/' if chars.peek() == Some(&'/') => in_comment = true,
            // `->` of function types is no bracket.
            '-' if chars.peek() == Some(&'>') => {
                chars.next();
                col += 1;
            }
            '{' | '(' | '[' | '<' => {
                depth += 1;
                if depth > limit {
                    return Some((line, col));
                }
            }
            '}' | ')' | ']' | '>' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Parses MLIR text, naming the buffer `file` in locations. Errors go to the context's
/// handlers. Top-level ops other than one module (a bare `func.func`, or several ops) are
/// wrapped in a module, as mlir-opt does. Text nested deeper than [`MAX_MLIR_NESTING`] is
/// refused before MLIR sees it.
pub fn parse_module<'c>(ctx: &'c Context, src: &str, file: &str) -> Option<Module<'c>> {
    if let Some((line, col)) = too_deep(src, MAX_MLIR_NESTING) {
        emit_error(
            Location::new(ctx, file, line, col),
            &format!("brackets nested more than {MAX_MLIR_NESTING} deep; pimlir does not read MLIR nested this deeply"),
        );
        return None;
    }
    // MLIR's C API parses exactly one top-level op. Try that quietly first; if the text has
    // several, parse it again inside `module { ... }` opened on its first line, so every
    // line number stays the same.
    let several = Rc::new(RefCell::new(false));
    let flag = several.clone();
    let quiet = ctx.attach_diagnostic_handler(move |d| {
        if d.to_string().contains("single top-level operation") {
            *flag.borrow_mut() = true;
        }
        true
    });
    let op = parse_op(ctx, src, file);
    ctx.detach_diagnostic_handler(quiet);
    let op = match op {
        Some(op) => op,
        None if *several.borrow() => {
            let wrapped = format!("module {{{src}\n}}");
            return parse_op(ctx, &wrapped, file).and_then(Module::from_operation);
        }
        // Parse again with the user's handlers attached, to report the errors.
        None => parse_op(ctx, src, file)?,
    };
    if op.name().as_string_ref().as_str() == Ok("builtin.module") {
        return Module::from_operation(op);
    }
    let module = Module::new(op.location());
    module.body().append_operation(op);
    Some(module)
}

fn parse_op<'c>(ctx: &'c Context, src: &str, file: &str) -> Option<melior::ir::Operation<'c>> {
    let src = std::ffi::CString::new(src.replace('\0', " ")).ok()?;
    let name = melior::StringRef::new(file);
    // SAFETY: both strings outlive the call; MLIR copies what it keeps.
    let raw = unsafe {
        mlir_sys::mlirOperationCreateParse(
            ctx.to_raw(),
            mlir_sys::MlirStringRef { data: src.as_ptr(), length: src.as_bytes().len() },
            name.to_raw(),
        )
    };
    // SAFETY: a null result means failure; otherwise we own the operation.
    unsafe { melior::ir::Operation::from_option_raw(raw) }
}

// ----- attribute access -------------------------------------------------------------------

/// Reads typed attributes of an op, producing messages that name the op and attribute.
pub struct Attrs<'c, 'a> {
    pub op: OperationRef<'c, 'a>,
    pub what: &'a str,
}

pub fn attrs<'c, 'a>(op: &OperationRef<'c, 'a>, what: &'a str) -> Attrs<'c, 'a> {
    Attrs { op: *op, what }
}

impl<'c, 'a> Attrs<'c, 'a> {
    pub fn has(&self, name: &str) -> bool {
        self.op.has_attribute(name)
    }
    fn get(&self, name: &str) -> Result<Attribute<'c>, String> {
        self.op.attribute(name).map_err(|_| format!("'{}' needs attribute '{name}'", self.what))
    }
    pub fn str(&self, name: &str) -> Result<String, String> {
        let a = self.get(name)?;
        if !a.is_string() {
            return Err(format!("attribute '{name}' of '{}' must be a string", self.what));
        }
        // SAFETY: checked to be a string attribute.
        Ok(string_of(unsafe { mlir_sys::mlirStringAttrGetValue(a.to_raw()) }))
    }
    pub fn opt_str(&self, name: &str) -> Result<Option<String>, String> {
        if self.has(name) {
            self.str(name).map(Some)
        } else {
            Ok(None)
        }
    }
    pub fn i64(&self, name: &str) -> Result<i64, String> {
        let a = self.get(name)?;
        if a.is_bool() {
            return Err(format!("attribute '{name}' of '{}' must be an integer, not a bool", self.what));
        }
        IntegerAttribute::try_from(a)
            .map(|i| i.value())
            .map_err(|_| format!("attribute '{name}' of '{}' must be an integer", self.what))
    }
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, String> {
        if self.has(name) {
            self.i64(name).map(Some)
        } else {
            Ok(None)
        }
    }
    pub fn bool(&self, name: &str) -> Result<bool, String> {
        let a = self.get(name)?;
        BoolAttribute::try_from(a)
            .map(|b| b.value())
            .map_err(|_| format!("attribute '{name}' of '{}' must be a bool (true/false)", self.what))
    }
    pub fn f32(&self, name: &str) -> Result<f32, String> {
        let a = self.get(name)?;
        FloatAttribute::try_from(a)
            .map(|f| f.value() as f32)
            .map_err(|_| format!("attribute '{name}' of '{}' must be a float", self.what))
    }
    pub fn i64_array(&self, name: &str) -> Result<Vec<i64>, String> {
        let a = self.get(name)?;
        let arr = DenseI64ArrayAttribute::try_from(a)
            .map_err(|_| format!("attribute '{name}' of '{}' must be array<i64: ...>", self.what))?;
        (0..arr.len()).map(|i| arr.element(i).map_err(|e| e.to_string())).collect()
    }
    /// An array of strings; empty when absent.
    pub fn str_array(&self, name: &str) -> Result<Vec<String>, String> {
        if !self.has(name) {
            return Ok(vec![]);
        }
        let bad = || format!("attribute '{name}' of '{}' must be an array of strings", self.what);
        let arr = melior::ir::attribute::ArrayAttribute::try_from(self.get(name)?).map_err(|_| bad())?;
        (0..arr.len())
            .map(|i| {
                let a = arr.element(i).map_err(|_| bad())?;
                if !a.is_string() {
                    return Err(bad());
                }
                // SAFETY: checked to be a string attribute.
                Ok(string_of(unsafe { mlir_sys::mlirStringAttrGetValue(a.to_raw()) }))
            })
            .collect()
    }
    pub fn i64_array_n<const N: usize>(&self, name: &str) -> Result<[i64; N], String> {
        let v = self.i64_array(name)?;
        v.as_slice()
            .try_into()
            .map_err(|_| format!("attribute '{name}' of '{}' must have {N} elements, got {}", self.what, v.len()))
    }
}

/// Builds `(name, attribute)` pairs for `OperationBuilder::add_attributes`.
pub struct AttrBuilder<'c> {
    ctx: &'c Context,
    pub list: Vec<(Identifier<'c>, Attribute<'c>)>,
}

impl<'c> AttrBuilder<'c> {
    pub fn new(ctx: &'c Context) -> Self {
        AttrBuilder { ctx, list: vec![] }
    }
    pub fn str(mut self, name: &str, v: &str) -> Self {
        self.list.push((Identifier::new(self.ctx, name), StringAttribute::new(self.ctx, v).into()));
        self
    }
    pub fn i64(mut self, name: &str, v: i64) -> Self {
        let t: Type = IntegerType::new(self.ctx, 64).into();
        self.list.push((Identifier::new(self.ctx, name), IntegerAttribute::new(t, v).into()));
        self
    }
    pub fn bool(mut self, name: &str, v: bool) -> Self {
        self.list.push((Identifier::new(self.ctx, name), BoolAttribute::new(self.ctx, v).into()));
        self
    }
    pub fn f32(mut self, name: &str, v: f32) -> Self {
        self.list.push((
            Identifier::new(self.ctx, name),
            FloatAttribute::new(self.ctx, Type::float32(self.ctx), v as f64).into(),
        ));
        self
    }
    pub fn i64_array(mut self, name: &str, v: &[i64]) -> Self {
        self.list.push((Identifier::new(self.ctx, name), DenseI64ArrayAttribute::new(self.ctx, v).into()));
        self
    }
    pub fn str_array(mut self, name: &str, v: &[&str]) -> Self {
        let elems: Vec<Attribute> = v.iter().map(|s| StringAttribute::new(self.ctx, s).into()).collect();
        self.list.push((
            Identifier::new(self.ctx, name),
            melior::ir::attribute::ArrayAttribute::new(self.ctx, &elems).into(),
        ));
        self
    }
    pub fn opt_str(self, name: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.str(name, v),
            None => self,
        }
    }
}

/// Sets a string attribute on the module op (e.g. `pim.arch`).
pub fn set_module_str(module: &mut Module, name: &str, value: &str) {
    let ctx = module.context();
    // SAFETY: the module's context outlives this call.
    let ctx = unsafe { ctx.to_ref() };
    module.as_operation_mut().set_attribute(name, StringAttribute::new(ctx, value).into());
}

pub fn module_str(module: &Module, name: &str) -> Option<String> {
    let a = module.as_operation().attribute(name).ok()?;
    // SAFETY: checked to be a string attribute.
    a.is_string().then(|| string_of(unsafe { mlir_sys::mlirStringAttrGetValue(a.to_raw()) }))
}

/// Destroys every op in the module body (to rebuild it from a plain-Rust model).
pub fn clear_module_body(module: &Module) {
    let body = module.body();
    let mut ops = vec![];
    let mut cur = body.first_operation();
    while let Some(op) = cur {
        ops.push(op.to_raw());
        cur = op.next_in_block();
    }
    for raw in ops.into_iter().rev() {
        // SAFETY: each op is live, belongs to this block, and users are destroyed first.
        unsafe { mlir_sys::mlirOperationDestroy(raw) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_measured_outside_strings_comments_and_arrows() {
        assert_eq!(too_deep("{{}}", 2), None);
        assert_eq!(too_deep("{\n {{", 2), Some((2, 3)));
        assert_eq!(too_deep("\"{{{{\" // {{{{\n(a) -> (b)", 1), None);
        assert_eq!(too_deep("tensor<tensor<x>>", 1), Some((1, 14)));
    }

    #[test]
    fn dialects_load_and_irdl_verifies_ops() {
        let ctx = new_context();
        let diags = DiagnosticCapture::attach(&ctx);
        for op in ["graph.conv2d", "pim_partition.fc", "pim_core.maxpool", "pim_isa.mvmul"] {
            assert!(ctx.is_registered_operation(op), "{op}");
        }
        let bad = r#"func.func @f(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %0 = "graph.relu"(%x, %x) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}"#;
        // The parser verifies what it parsed; IRDL rejects the second operand.
        assert!(parse_module(&ctx, bad, "bad.mlir").is_none());
        let d = diags.take();
        assert_eq!(d[0].loc, Some(Loc::new("bad.mlir", 2, 8)));
        assert!(d[0].message.contains("expects exactly 1 operands"), "{:?}", d);
    }
}
