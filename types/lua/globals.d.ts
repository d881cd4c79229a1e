/** The `box` global, and the decimal operator helpers TypeScriptToLua turns into Lua operators. */
import type { Box } from "tarantoolscript";
import type { Decimal } from "decimal";

declare global {
  const box: Box;
  const dAdd: LuaAddition<Decimal, Decimal, Decimal>;
  const dSub: LuaSubtraction<Decimal, Decimal, Decimal>;
  const dMul: LuaMultiplication<Decimal, Decimal | number, Decimal>;
  const dDiv: LuaDivision<Decimal, Decimal | number, Decimal>;
  const dLt: LuaLessThan<Decimal, Decimal, boolean>;
}

export {};
