€gh1-merkle-sha256-1k3
config.json$" Læ¨Œ £yˆz9 s
iÛ€ä‡I‡°Óço5_Û½}÷G·1
data.binˆ'" €F‡´ò<AS¾ÙŠÁ6˜Y…(Åtà”‡°¹Ãð9ñM<
weights.safetensorsÎ" ÒNõÃ.$xöLþ…oÐñà‡¡f,&„" _ø–ÕL„ª^)öA?êÝÇ:k¡¼uÆnE†ìú™”¿_*¶