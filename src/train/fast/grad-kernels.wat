;; Gradient kernels of the training steps (plain WebAssembly SIMD128), compiled to
;; grad-kernels.wasm by `npm run build:wasm`; a test checks that the committed binary is this
;; source compiled. Pointers and strides are byte offsets into the memory the module imports;
;; every value is float32. See grad-kernels.ts for the callers.
(module
  (import "env" "memory" (memory 1 65536))

  ;; c[i][j] += Σ_{t<n} a[t][i] · g[t][j], the product aᵀ·g without a transposed copy of a: a conv
  ;; filter's gradient for one tap is this with a = the input shifted by the tap, g = the output
  ;; gradient. Rows of a start at a + t·as, rows of g at g + t·gs; c is row-major [ni, nj].
  ;; ni must be a multiple of 4 and nj of 8 (the caller pads the channels).
  ;;
  ;; Blocks of 4 × 8 outputs stay in 8 accumulators while t runs over a chunk of 64 rows: each
  ;; step loads 4 values of a (splatted lane by lane) and 8 of g for 32 multiply-adds. The chunk's
  ;; rows of a and g stay in the L1 cache across the blocks.
  (func (export "gram")
    (param $a i32) (param $as i32) (param $g i32) (param $gs i32) (param $n i32)
    (param $c i32) (param $ni i32) (param $nj i32)
    (local $t0 i32) (local $len i32) (local $i i32) (local $j i32) (local $t i32)
    (local $ap i32) (local $gp i32) (local $cs i32) (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $av v128) (local $s v128) (local $g0 v128) (local $g1 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $c4 v128) (local $c5 v128) (local $c6 v128) (local $c7 v128)
    (local.set $cs (i32.shl (local.get $nj) (i32.const 2)))
    (local.set $t0 (i32.const 0))
    (block $chunksDone
      (loop $chunk
        (br_if $chunksDone (i32.ge_s (local.get $t0) (local.get $n)))
        (local.set $len (i32.sub (local.get $n) (local.get $t0)))
        (if (i32.gt_s (local.get $len) (i32.const 64)) (then (local.set $len (i32.const 64))))
        (local.set $i (i32.const 0))
        (block $iDone
          (loop $iLoop
            (br_if $iDone (i32.ge_s (local.get $i) (local.get $ni)))
            (local.set $j (i32.const 0))
            (block $jDone
              (loop $jLoop
                (br_if $jDone (i32.ge_s (local.get $j) (local.get $nj)))
                (local.set $p0 (i32.add (local.get $c)
                  (i32.add (i32.mul (local.get $i) (local.get $cs)) (i32.shl (local.get $j) (i32.const 2)))))
                (local.set $p1 (i32.add (local.get $p0) (local.get $cs)))
                (local.set $p2 (i32.add (local.get $p1) (local.get $cs)))
                (local.set $p3 (i32.add (local.get $p2) (local.get $cs)))
                (local.set $c0 (v128.load (local.get $p0)))
                (local.set $c1 (v128.load offset=16 (local.get $p0)))
                (local.set $c2 (v128.load (local.get $p1)))
                (local.set $c3 (v128.load offset=16 (local.get $p1)))
                (local.set $c4 (v128.load (local.get $p2)))
                (local.set $c5 (v128.load offset=16 (local.get $p2)))
                (local.set $c6 (v128.load (local.get $p3)))
                (local.set $c7 (v128.load offset=16 (local.get $p3)))
                (local.set $ap (i32.add (i32.add (local.get $a) (i32.mul (local.get $t0) (local.get $as)))
                                        (i32.shl (local.get $i) (i32.const 2))))
                (local.set $gp (i32.add (i32.add (local.get $g) (i32.mul (local.get $t0) (local.get $gs)))
                                        (i32.shl (local.get $j) (i32.const 2))))
                (local.set $t (local.get $len))
                (loop $tLoop
                  (local.set $av (v128.load (local.get $ap)))
                  (local.set $g0 (v128.load (local.get $gp)))
                  (local.set $g1 (v128.load offset=16 (local.get $gp)))
                  (local.set $s (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3 (local.get $av) (local.get $av)))
                  (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $s) (local.get $g0))))
                  (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $s) (local.get $g1))))
                  (local.set $s (i8x16.shuffle 4 5 6 7 4 5 6 7 4 5 6 7 4 5 6 7 (local.get $av) (local.get $av)))
                  (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $s) (local.get $g0))))
                  (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $s) (local.get $g1))))
                  (local.set $s (i8x16.shuffle 8 9 10 11 8 9 10 11 8 9 10 11 8 9 10 11 (local.get $av) (local.get $av)))
                  (local.set $c4 (f32x4.add (local.get $c4) (f32x4.mul (local.get $s) (local.get $g0))))
                  (local.set $c5 (f32x4.add (local.get $c5) (f32x4.mul (local.get $s) (local.get $g1))))
                  (local.set $s (i8x16.shuffle 12 13 14 15 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $av) (local.get $av)))
                  (local.set $c6 (f32x4.add (local.get $c6) (f32x4.mul (local.get $s) (local.get $g0))))
                  (local.set $c7 (f32x4.add (local.get $c7) (f32x4.mul (local.get $s) (local.get $g1))))
                  (local.set $ap (i32.add (local.get $ap) (local.get $as)))
                  (local.set $gp (i32.add (local.get $gp) (local.get $gs)))
                  (local.set $t (i32.sub (local.get $t) (i32.const 1)))
                  (br_if $tLoop (i32.gt_s (local.get $t) (i32.const 0))))
                (v128.store (local.get $p0) (local.get $c0))
                (v128.store offset=16 (local.get $p0) (local.get $c1))
                (v128.store (local.get $p1) (local.get $c2))
                (v128.store offset=16 (local.get $p1) (local.get $c3))
                (v128.store (local.get $p2) (local.get $c4))
                (v128.store offset=16 (local.get $p2) (local.get $c5))
                (v128.store (local.get $p3) (local.get $c6))
                (v128.store offset=16 (local.get $p3) (local.get $c7))
                (local.set $j (i32.add (local.get $j) (i32.const 8)))
                (br $jLoop)))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $iLoop)))
        (local.set $t0 (i32.add (local.get $t0) (local.get $len)))
        (br $chunk)))
  )

  ;; out[j] += Σ_{t<n} g[t][j] for j < nj (a multiple of 4): a bias's gradient, the output
  ;; gradient summed over rows, read row by row (rows start at g + t·gs).
  (func (export "colsum") (param $g i32) (param $gs i32) (param $n i32) (param $out i32) (param $nj i32)
    (local $t i32) (local $j i32) (local $gp i32) (local $op i32) (local $end i32)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $nj) (i32.const 2))))
    (local.set $t (i32.const 0))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_s (local.get $t) (local.get $n)))
        (local.set $gp (i32.add (local.get $g) (i32.mul (local.get $t) (local.get $gs))))
        (local.set $op (local.get $out))
        (block $colsDone
          (loop $cols
            (br_if $colsDone (i32.ge_u (local.get $op) (local.get $end)))
            (v128.store (local.get $op) (f32x4.add (v128.load (local.get $op)) (v128.load (local.get $gp))))
            (local.set $op (i32.add (local.get $op) (i32.const 16)))
            (local.set $gp (i32.add (local.get $gp) (i32.const 16)))
            (br $cols)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $rows)))
  )
)
