// The usage page: its charts are SVG images with a text alternative and a table.
const { signIn, shot } = require("./steps");

module.exports = async function (page, args) {
  await signIn(page, args);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Usage" }).click();
  await page.getByRole("heading", { name: "Usage and cost" }).waitFor();
  const charts = page.getByRole("img");
  const names = [];
  for (let i = 0; i < await charts.count(); i++) names.push(await charts.nth(i).getAttribute("aria-labelledby"));
  const perDay = await page.locator("#per-day desc").textContent();
  await page.getByText("Spend per model as a table").click();  // the table opens with the keyboard too
  const table = await page.locator("#per-model table").innerText();
  await shot(page, args, "usage");
  return { charts: names, perDay, table };
};
